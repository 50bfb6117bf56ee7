"""aws adapter (being built: see the issue tracker)."""

from ...errors import ProviderError

NAME = "aws"


def collect(options, *, executor=None, progress=None):
    raise ProviderError("the aws adapter is not available in this build yet")


def normalize(collection):
    raise ProviderError("the aws adapter is not available in this build yet")
