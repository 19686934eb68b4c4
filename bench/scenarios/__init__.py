"""One module per benchmark, each with ``async def run(*, quick, echo) -> Result``."""
