"""``python -m tpe_insight``: the ``tpe-insight`` command, for environments without the script
on ``PATH`` (a venv not activated, ``pipx run``, a container running ``python -m``)."""

import sys

from tpe_insight.cli import main

sys.exit(main())
