"""A tiny Durable engine for replaying an orchestrator through the REAL SDK: the one replay
harness of the unit tests (the image job's and the notifications').

Each episode builds the context JSON the Functions host sends (history of ExecutionStarted /
OrchestratorStarted / TaskScheduled / TaskCompleted / TimerCreated / TimerFired events, the way the
SDK's own tests build them), calls the orchestrator exactly as DFApp registers it
(`Orchestrator.create`), reads the new actions beyond those already handled (schema V3: the list is
cumulative) and answers them: activities through a scripted responder, timers by moving the clock
to their `fireAt`. The whole history is replayed every episode, so non-determinism breaks the run.

External events (`raise_event`) are added the way the host adds them: an EventRaised event with
the event's `Name` and its JSON payload in `Input` (which the SDK reads; it matches the event to
the task waiting for that name), in an episode of its own before the activities or timer that
would otherwise have been delivered next — so activities in flight stay in flight — or, with
`before_start`, in the first episode, behind ExecutionStarted. A cancelled timer (a CreateTimer
action replayed with `isCanceled`) never fires, like the host's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.durable_functions.constants import DATETIME_STRING_FORMAT
from azure.durable_functions.orchestrator import Orchestrator

from shared.imaging.types import Deployment, Family, Flavour, GenerationParams
from shared.models import JobInput
from shared.orchestration.contracts import ACTIVITIES, check_answer
from shared.orchestration.image_job import run_image_job

START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

Responder = Callable[[str, dict[str, Any]], dict[str, Any]]


@dataclass
class RaiseEvent:
    """An external event to raise once `when(engine)` is true, checked before each delivery:
    e.g. `scheduled("generate_images")` (as soon as that activity is in flight) or `at(seconds)`
    (once the job's clock has reached that many seconds after the start)."""

    name: str
    payload: Any = None
    when: Callable[[Engine], bool] | None = None
    before_start: bool = False  # in the first episode's history, behind ExecutionStarted
    # in the same episode as the Nth timer firing, behind its TimerFired (a busy host delivers
    # both in one batch): the orchestrator resumes on the timer before it sees the event
    with_timer: int | None = None
    raised_at: datetime | None = None


def scheduled(activity: str, count: int = 1) -> Callable[[Engine], bool]:
    """True once `activity` has been scheduled `count` times and one of them is in flight."""

    def check(engine: Engine) -> bool:
        made = sum(1 for c in engine.calls if c.name == activity)
        in_flight = any(call.name == activity for _, call in engine.pending_tasks)
        return made >= count and in_flight

    return check


def timer_pending(count: int = 1) -> Callable[[Engine], bool]:
    """True once `count` timers have been created and one is still waiting to fire."""
    return lambda engine: len(engine.timers) >= count and bool(engine.pending_timers)


def at(seconds: float) -> Callable[[Engine], bool]:
    """True once the job's clock is `seconds` or more after the start."""
    return lambda engine: engine.now >= START + timedelta(seconds=seconds)


@dataclass
class Call:
    """One scheduled activity as the orchestrator asked for it."""

    name: str
    input: dict[str, Any]
    at: datetime


@dataclass
class Run:
    """What a replayed job did, as a user or operator would see it."""

    output: Any
    calls: list[Call]
    timers: list[float]  # seconds from scheduling to fireAt, in order
    statuses: list[dict[str, Any]]  # customStatus after each episode
    episodes: int
    finished_at: datetime
    history: list[dict[str, Any]] = field(repr=False)
    cancelled_timers: list[int] = field(default_factory=list)  # task ids of cancelled timers
    first_actions: list[int] = field(default_factory=list)  # action types of the 1st episode

    def names(self) -> list[str]:
        return [c.name for c in self.calls]

    def outcome(self) -> list[tuple[str, Any]]:
        """What the host recorded, in order: ("scheduled", activity), ("completed"/"failed",
        task id), ("timer", id), ("fired", id), ("raised", name)."""
        names = {4: "scheduled", 5: "completed", 6: "failed", 10: "timer", 11: "fired"}
        out: list[tuple[str, Any]] = []
        for event in self.history:
            kind = event["EventType"]
            if kind == 4:
                out.append(("scheduled", event["Name"]))
            elif kind in (5, 6):
                out.append((names[kind], event["TaskScheduledId"]))
            elif kind == 10:
                out.append(("timer", event["EventId"]))
            elif kind == 11:
                out.append(("fired", event["TimerId"]))
            elif kind == 15:
                out.append(("raised", event["Name"]))
        return out


def _flatten(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for action in actions:
        if action.get("compoundActions"):
            out.extend(_flatten(action["compoundActions"]))
        else:
            out.append(action)
    return out


Orchestrator_ = Callable[[Any], Generator[Any, Any, Any]]


class Engine:
    def __init__(
        self,
        job: JobInput | None,
        responder: Responder,
        *,
        activity_s: float = 0.5,
        on_timer: Callable[[int], None] | None = None,
        orchestrator: Orchestrator_ = run_image_job,
        input: Any = None,
        instance_id: str | None = None,
        events: list[RaiseEvent] | None = None,
    ) -> None:
        self.orchestrator = orchestrator
        self.on_timer = on_timer
        self.timers_fired = 0
        self.input = job.model_dump(mode="json") if job is not None else input
        self.instance_id = job.id if job is not None else (instance_id or "job-1")
        self.responder = responder
        self.activity_s = activity_s
        self.now = START
        self.history: list[dict[str, Any]] = []
        self.next_id = 0
        self.handled = 0
        self.pending_tasks: list[tuple[int, Call]] = []
        self.pending_timers: list[tuple[int, datetime]] = []
        self.calls: list[Call] = []
        self.timers: list[float] = []
        self.statuses: list[dict[str, Any]] = []
        self.events = list(events or [])
        self.cancelled_timers: set[int] = set()
        self.first_actions: list[int] = []
        self.flat_ids: list[int | None] = []  # the task id of each flattened action (None: a wait)
        self.actions: list[dict[str, Any]] = []  # every action the last episode listed

    def _event(self, event_type: int, event_id: int = -1, **fields: Any) -> None:
        self.history.append(
            {
                "EventType": event_type,
                "EventId": event_id,
                "IsPlayed": False,
                "Timestamp": self.now.strftime(DATETIME_STRING_FORMAT),
                **fields,
            }
        )

    def _episode_start(self) -> None:
        for event in self.history:
            event["IsPlayed"] = True
        self._event(12)  # OrchestratorStarted

    def _invoke(self) -> dict[str, Any]:
        context = {
            "history": self.history,
            "input": json.dumps(self.input),
            "instanceId": self.instance_id,
            "isReplaying": False,
            "parentInstanceId": None,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
        }
        handle = Orchestrator.create(self.orchestrator)
        return json.loads(handle(json.dumps(context)))

    def run(self, max_episodes: int = 400) -> Run:
        self._event(12)
        self._event(0, Name="image_job", Version="", Input=json.dumps(self.input))
        for raised in self.events:
            if raised.before_start:
                self._raise(raised)
        for episode in range(1, max_episodes + 1):
            state = self._invoke()
            if state.get("customStatus") is not None:
                self.statuses.append(state["customStatus"])
            actions = _flatten(state["actions"][0]) if state.get("actions") else []
            self.actions = actions
            if episode == 1:
                self.first_actions = [a["actionType"] for a in actions]
            for action in actions[self.handled :]:
                if action["actionType"] == 6:  # WaitForExternalEvent: matched by name, no id
                    self.flat_ids.append(None)
                    continue
                task_id = self.next_id
                self.flat_ids.append(task_id)
                self.next_id += 1
                if action["actionType"] in (0, 1):
                    call = Call(action["functionName"], json.loads(action["input"]), self.now)
                    self.calls.append(call)
                    self.pending_tasks.append((task_id, call))
                    self._event(4, task_id, Name=call.name, Input=action["input"])
                elif action["actionType"] == 5:
                    fire_at = datetime.strptime(action["fireAt"], DATETIME_STRING_FORMAT).replace(
                        tzinfo=UTC
                    )
                    self.timers.append((fire_at - self.now).total_seconds())
                    self.pending_timers.append((task_id, fire_at))
                    self._event(10, task_id, FireAt=action["fireAt"])
                else:
                    raise AssertionError(f"unexpected action {action}")
            self.handled = len(actions)
            self._cancel_timers(actions)
            if state["isDone"]:
                # Replaying the finished history must decide exactly the same again.
                again = self._invoke()
                assert again == state, "the orchestrator is not deterministic on replay"
                return Run(
                    output=state.get("output"),
                    calls=self.calls,
                    timers=self.timers,
                    statuses=self.statuses,
                    episodes=episode,
                    finished_at=self.now,
                    history=self.history,
                    cancelled_timers=sorted(self.cancelled_timers),
                    first_actions=self.first_actions,
                )
            self._deliver()
        raise AssertionError("the orchestration did not finish")

    def _raise(self, raised: RaiseEvent) -> None:
        """The EventRaised event the host records: the name, and the payload as JSON `Input`."""
        raised.raised_at = self.now
        self._event(15, Name=raised.name, Input=json.dumps(raised.payload))

    def _cancel_timers(self, actions: list[dict[str, Any]]) -> None:
        """Timers the orchestrator cancelled (their action replayed with isCanceled) never fire."""
        for action, task_id in zip(actions, self.flat_ids, strict=False):
            if action["actionType"] == 5 and action.get("isCanceled") and task_id is not None:
                self.cancelled_timers.add(task_id)
                self.pending_timers = [t for t in self.pending_timers if t[0] != task_id]

    def _deliver(self) -> None:
        due = [e for e in self.events if e.raised_at is None and e.when and e.when(self)]
        if due:  # an episode of their own: what is in flight stays in flight
            self.now += timedelta(seconds=self.activity_s / 2)
            self._episode_start()
            for raised in due:
                self._raise(raised)
            return
        if self.pending_tasks:
            self.now += timedelta(seconds=self.activity_s)
            self._episode_start()
            for task_id, call in self.pending_tasks:
                # What the real activity would refuse, or could never answer, fails the test.
                ACTIVITIES[call.name][0].model_validate(call.input)
                try:
                    result = self.responder(call.name, call.input)
                except Exception as exc:  # the activity raised: the host records TaskFailed
                    self._event(6, TaskScheduledId=task_id, Reason=str(exc), Details="")
                else:
                    check_answer(call.name, result)
                    self._event(5, TaskScheduledId=task_id, Result=json.dumps(result))
            self.pending_tasks = []
            return
        if self.pending_timers:
            self.pending_timers.sort(key=lambda t: t[1])
            timer_id, fire_at = self.pending_timers.pop(0)
            self.now = max(self.now, fire_at)
            self.timers_fired += 1
            if self.on_timer is not None:
                self.on_timer(self.timers_fired)
            self._episode_start()
            self._event(11, TimerId=timer_id, FireAt=fire_at.strftime(DATETIME_STRING_FORMAT))
            for raised in self.events:
                if raised.raised_at is None and raised.with_timer == self.timers_fired:
                    self._raise(raised)
            return
        raise AssertionError("the orchestrator is waiting for nothing")

    def in_flight(self) -> list[str]:
        return [call.name for _, call in self.pending_tasks]


def replay(
    orchestrator: Orchestrator_,
    activities: Mapping[str, Callable[[Any], Any]],
    *,
    input: Any = None,
    instance_id: str = "job-1",
) -> Run:
    """Replay any orchestrator whose activities are the given callables (name -> payload ->
    answer; an exception becomes TaskFailed). Inputs and answers are checked against the
    contract (shared/orchestration/contracts.py) like the image job's."""
    responder: Responder = lambda name, payload: activities[name](payload)  # noqa: E731
    engine = Engine(
        None, responder, orchestrator=orchestrator, input=input, instance_id=instance_id
    )
    return engine.run()


ENDPOINT = "http://127.0.0.1:9"


def make_job(
    family: Family = Family.DALLE3,
    flavour: Flavour = Flavour.AZURE_DEPLOYMENT,
    *,
    n: int = 1,
    deadline_seconds: int = 900,
    max_attempts: int = 6,
    job_id: str = "job1",
) -> JobInput:
    name = {Family.DALLE2: "dall-e-2", Family.DALLE3: "dall-e-3", Family.GPT_IMAGE: "gpt-image-1"}[
        family
    ]
    return JobInput(
        id=job_id,
        model=name,
        deployment=Deployment(
            name=name,
            deployment=name,
            family=family,
            flavour=flavour,
            endpoint=ENDPOINT,
            api_version="2024-10-21",
        ),
        params=GenerationParams(prompt="a badger wearing a tuxedo", n=n),
        created=START.isoformat(),
        deadline_seconds=deadline_seconds,
        max_attempts=max_attempts,
    )
