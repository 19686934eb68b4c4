"""The Functions app: creates the Durable app and registers the blueprints. Nothing else.

Importing this module reads no settings and opens no connection; everything is built on first use.
"""

import azure.durable_functions as df
import azure.functions as func

from shared.blueprints import (
    activities,
    edits_api,
    http_api,
    manage_api,
    models_api,
    orchestration,
    queue_trigger,
    status_api,
    ui_api,
)
from shared.notify.activities import bp as notify_bp
from shared.openapi.blueprint import bp as openapi_bp

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(http_api.bp)  # POST /api/images, GET /api/images/{id}[/{index}]
app.register_functions(edits_api.bp)  # POST /api/images/edits
app.register_functions(manage_api.bp)  # DELETE /api/images/{id}, GET /api/images: cancel, list
app.register_functions(status_api.bp)  # GET /api/status/{id}[/images/{index}]: signed links
app.register_functions(orchestration.bp)  # the image_job orchestrator
app.register_functions(activities.bp)  # its activities
app.register_functions(queue_trigger.bp)  # batch jobs from the image-requests queue
app.register_functions(notify_bp)  # completion callbacks / results queue activities
app.register_functions(openapi_bp)  # GET /api/openapi.json
app.register_functions(models_api.bp)  # GET /api/models
app.register_functions(ui_api.bp)  # GET /api/ui[/{name}]: the playground page (anonymous)
