"""``python -m resnet_course`` is the ``resnet-course`` command."""

import sys

from resnet_course.cli import main

sys.exit(main())
