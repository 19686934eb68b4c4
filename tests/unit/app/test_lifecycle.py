"""The lifecycle table: what is retired or retiring when, the warnings and the job's message."""

from __future__ import annotations

from datetime import date

import pytest

from shared.imaging.errors import classify_response, explain_retired
from shared.imaging.types import Deployment, ErrorCode, Family, Flavour, ImageApiError
from shared.lifecycle import (
    CURRENT_MODEL,
    LIFECYCLE,
    Status,
    lifecycle_for,
    model_warnings,
    retired_message,
)
from shared.models import CAPABILITIES


def dep(family: Family, flavour: Flavour = Flavour.AZURE_DEPLOYMENT, name: str = "m") -> Deployment:
    return Deployment(
        name=name,
        deployment=name,
        family=family,
        flavour=flavour,
        endpoint="http://e",
        api_version="2025-04-01-preview",
    )


def test_every_model_of_the_app_has_a_row_with_its_source_on_each_platform_serving_it():
    for family, caps in CAPABILITIES.items():
        for flavour in caps.flavours:
            row = lifecycle_for(dep(family, flavour))
            assert row is not None, (family, flavour)
            assert row.source, row
    assert all(row.source for row in LIFECYCLE.values())


@pytest.mark.parametrize(
    "family",
    [Family.FLUX_1_1_PRO, Family.FLUX_1_KONTEXT_PRO, Family.FLUX_2_PRO, Family.FLUX_2_FLEX],
)
def test_flux_is_ga_with_no_retirement_on_foundry_and_on_bfls_own_api(family):
    foundry = lifecycle_for(dep(family, Flavour.BFL_FOUNDRY))
    own = lifecycle_for(dep(family, Flavour.BFL))
    assert foundry is not None
    assert own is not None
    assert (foundry.platform, own.platform) == ("azure", "bfl")
    for row in (foundry, own):
        assert row.status_on(date(2030, 1, 1)) is Status.GA
        assert row.retirement is None
        assert row.replacement is None
    assert "A14" in foundry.source
    assert own.source.startswith("B")
    assert model_warnings({"f": dep(family, Flavour.BFL_FOUNDRY)}, date(2030, 1, 1)) == []


def test_flux_2_flex_notes_the_registration_azure_requires():
    row = lifecycle_for(dep(Family.FLUX_2_FLEX, Flavour.BFL_FOUNDRY))
    assert row is not None
    assert "registration required" in row.as_dict(date(2026, 9, 1))["note"]


@pytest.mark.parametrize(
    ("family", "day", "status"),
    [
        (Family.DALLE3, date(2026, 3, 3), Status.RETIRED),  # documented retired already
        (Family.GPT_IMAGE, date(2026, 10, 22), Status.PREVIEW),
        (Family.GPT_IMAGE, date(2026, 10, 23), Status.RETIRED),  # the day itself
        (Family.GPT_IMAGE_1_MINI, date(2026, 10, 5), Status.GA),
        (Family.GPT_IMAGE_1_MINI, date(2026, 10, 6), Status.DEPRECATED),
        (Family.GPT_IMAGE_1_MINI, date(2027, 4, 7), Status.RETIRED),
        (Family.GPT_IMAGE_2, date(2026, 12, 1), Status.GA),
    ],
)
def test_the_status_follows_the_dates_on_azure(family, day, status):
    row = lifecycle_for(dep(family))
    assert row is not None
    assert row.status_on(day) is status


def test_warns_for_a_retired_model_and_one_retiring_within_30_days():
    models = {
        "old": dep(Family.DALLE3, name="old"),
        "soon": dep(Family.GPT_IMAGE_1_5, name="soon"),  # retires 2026-12-16
        "later": dep(Family.GPT_IMAGE_1_MINI, name="later"),  # retires 2027-04-07
        "new": dep(Family.GPT_IMAGE_2, name="new"),
    }
    warned = model_warnings(models, date(2026, 12, 1))
    assert len(warned) == 2
    old, soon = warned
    assert "'old' (dall-e-3) was retired on Azure on 2026-03-04" in old
    assert "source A4, A7" in old
    assert "'soon' (gpt-image-1.5) retires on Azure on 2026-12-16 (in 15 days)" in soon


def test_thirty_days_is_the_edge_of_the_warning():
    models = {"soon": dep(Family.GPT_IMAGE_1_5)}
    assert len(model_warnings(models, date(2026, 11, 16))) == 1  # 30 days before
    assert model_warnings(models, date(2026, 11, 15)) == []  # 31 days before


def test_openai_has_its_own_dates():
    models = {"o": dep(Family.GPT_IMAGE_1_5, Flavour.OPENAI), "a": dep(Family.GPT_IMAGE_1_5)}
    warned = model_warnings(models, date(2026, 12, 1))
    assert "was retired on OpenAI on 2026-12-01" in warned[0]
    assert "retires on Azure on 2026-12-16" in warned[1]
    assert model_warnings({"o": dep(Family.GPT_IMAGE_2, Flavour.OPENAI)}, date(2030, 1, 1)) == []


def test_the_retired_message_names_the_date_and_the_replacement():
    today = date(2026, 12, 1)
    message = retired_message(dep(Family.GPT_IMAGE_1_MINI), date(2027, 5, 1))
    assert message is not None
    assert "gpt-image-1-mini was retired on Azure on 2027-04-07" in message
    assert f"use {CURRENT_MODEL} instead" in message  # no replacement documented
    # dall-e-2 → gpt-image-1 (retired) → gpt-image-1.5 (retires in 15 days) → the current model
    dalle2 = retired_message(dep(Family.DALLE2, Flavour.AZURE_DALLE2_ASYNC), today)
    assert dalle2 is not None
    assert "2025-01-27" in dalle2
    assert "use gpt-image-2" in dalle2
    # on 2026-10-01 gpt-image-1.5 was a lasting replacement for dall-e-3
    early = retired_message(dep(Family.DALLE3), date(2026, 10, 1))
    assert early is not None
    assert "use gpt-image-1.5 instead" in early
    openai = retired_message(dep(Family.GPT_IMAGE_1_MINI, Flavour.OPENAI), today)
    assert openai is not None
    assert "gpt-image-2.5-sunburst" in openai
    assert retired_message(dep(Family.GPT_IMAGE_2), today) is None


def test_a_refused_retired_model_fails_with_the_lifecycle_message():
    refused = ImageApiError(ErrorCode.DEPLOYMENT_NOT_FOUND, "DeploymentNotFound", status=404)
    explained = explain_retired(refused, dep(Family.DALLE3), date(2026, 12, 1))
    assert explained.code is ErrorCode.DEPLOYMENT_NOT_FOUND
    assert "dall-e-3 was retired on Azure on 2026-03-04" in explained.message
    assert "use gpt-image-2 instead" in explained.message
    # a live model's refusal, or another error, is left as the service said it
    live = explain_retired(refused, dep(Family.GPT_IMAGE_2), date(2026, 12, 1))
    assert live is refused
    other = ImageApiError(ErrorCode.AUTH_FAILED, "no")
    assert explain_retired(other, dep(Family.DALLE3), date(2026, 12, 1)) is other


def test_openais_model_not_found_is_a_refusal_of_the_model():
    body = b'{"error": {"code": "model_not_found", "message": "The model dall-e-3 does not exist"}}'
    err = classify_response(400, {}, body)
    assert err.code is ErrorCode.DEPLOYMENT_NOT_FOUND
    assert not err.retryable
    explained = explain_retired(err, dep(Family.DALLE3, Flavour.OPENAI), date(2026, 12, 1))
    assert "dall-e-3 was retired on OpenAI on 2026-05-12" in explained.message


def test_devstack_start_shows_the_apps_warnings_for_its_settings():
    from devstack.cli.start import model_warnings_for

    env = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:7072",
        "IMAGE_REQUESTS_QUEUE": "image-requests",
    }
    warned = model_warnings_for(env, date(2026, 12, 1))
    # the defaults: gpt-image-1.5 retires in 15 days; gpt-image-1, dall-e-2 and dall-e-3 are gone
    assert [w.split("'")[1] for w in warned] == [
        "gpt-image-1.5",
        "gpt-image-1",
        "dall-e-2",
        "dall-e-3",
    ]
    assert model_warnings_for({**env, "IMAGE_DEFAULT_MODEL": "nope"}, date(2026, 12, 1)) == []
