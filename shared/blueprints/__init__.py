"""Function entry points, one blueprint each: the HTTP API, and the orchestration + activities."""
