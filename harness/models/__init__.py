"""The architectures, registered by name. Importing it registers them."""

from harness.models import resnet  # noqa: F401  (registers the architectures)
