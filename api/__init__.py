"""crm-dedup's outer layer: settings, the command line and (later) the FastAPI service."""
