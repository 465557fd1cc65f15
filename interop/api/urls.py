"""Routes of interop under /api/.

``results/trace`` is interop's although its path names results: the path says what a support
desk asks about (a lab's result, by the numbers the lab quotes), and the answer is read from
interop's message store (each delivery, its ACK, what it produced) plus the encounter
timeline's push times (``encounters.facade``). Results owns none of that data and, a layer
below interop, cannot read the store; the path stays as it is for the clients that use it.
"""

from django.urls import URLPattern, path

from interop.api.views import TraceView

urlpatterns: list[URLPattern] = [
    path("results/trace", TraceView.as_view(), name="results-trace"),
]
