"""HTTP views: thin, they authorise, call one service or selector, and render."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from memoryapp.selectors.health import system_health


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    report = system_health()
    return JsonResponse(report, status=200 if report["ok"] else 503)
