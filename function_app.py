"""The Functions app: creates the Durable app and registers the blueprints. Nothing else.

Importing this module reads no settings and opens no connection; everything is built on first use.
"""

import azure.durable_functions as df
import azure.functions as func

from shared.blueprints import http_api, orchestration

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(http_api.bp)
app.register_functions(orchestration.bp)
