"""python -m hf_distill <stage> ... (the same as `hf-distill`; works under `accelerate launch -m hf_distill`)."""

import sys

from .cli import main

sys.exit(main())
