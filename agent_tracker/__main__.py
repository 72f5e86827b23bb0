"""`python -m agent_tracker` is the same program as the `agent-tracker` console script."""

import sys

from agent_tracker.entry import main

sys.exit(main())
