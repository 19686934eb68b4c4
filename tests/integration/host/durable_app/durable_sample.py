"""A DFApp whose orchestrator and activity the loader tests drive through the real SDK."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="ctx")
def shouting(ctx: df.DurableOrchestrationContext):
    name = ctx.get_input()["name"]
    loud = yield ctx.call_activity("shout", {"text": f"hello {name}"})
    ctx.set_custom_status({"stage": "shouted"})
    return loud


@app.activity_trigger(input_name="payload")
def shout(payload: dict) -> dict:
    if payload["text"].endswith("!"):
        raise ValueError("already shouting")
    return {"text": payload["text"].upper(), "length": len(payload["text"])}


@app.activity_trigger(input_name="raw")
async def echo_raw(raw: str) -> str:
    return raw
