"""gcp adapter (being built: see the issue tracker)."""

from ...errors import ProviderError

NAME = "gcp"


def collect(options, *, executor=None, progress=None):
    raise ProviderError("the gcp adapter is not available in this build yet")


def normalize(collection):
    raise ProviderError("the gcp adapter is not available in this build yet")
