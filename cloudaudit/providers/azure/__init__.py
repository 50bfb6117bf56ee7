"""azure adapter (being built: see the issue tracker)."""

from ...errors import ProviderError

NAME = "azure"


def collect(options, *, executor=None, progress=None):
    raise ProviderError("the azure adapter is not available in this build yet")


def normalize(collection):
    raise ProviderError("the azure adapter is not available in this build yet")
