"""``python -m pmarl_bench.cli``"""

import sys

from pmarl_bench.cli import main

sys.exit(main())
