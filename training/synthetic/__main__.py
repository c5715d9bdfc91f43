"""`python -m training.synthetic`: write a synthetic set and its truth to a directory."""

from training.synthetic import main

raise SystemExit(main())
