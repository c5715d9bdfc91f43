"""A local amoCRM for tests, benches and `make demo-amocrm` (a real HTTP server speaking API v4's shapes).

`server.AmoStandin` holds the accounts and the faults, `routes` answers the API, `state` holds what both
share; `python -m amocrm.standin --port 8765 --contacts 2000 --companies 500` runs one alone.
"""

from amocrm.standin.server import AmoStandin
from amocrm.standin.state import DEFAULT_RATE, ApiRequest, Delivery

__all__ = ["DEFAULT_RATE", "AmoStandin", "ApiRequest", "Delivery"]
