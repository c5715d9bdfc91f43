"""One module per resource; each is thin: parse, call `resolver/`, shape the answer."""
