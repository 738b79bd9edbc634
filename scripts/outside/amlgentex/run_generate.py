"""Run AMLGentex data generation without its ML dependencies.

src/utils/__init__.py star-imports src.utils.utils, which imports torch, sklearn and
torch_geometric at top level for the ML part only. Data generation never uses it, so we
register an empty stand-in module before anything under src.utils is imported.

usage: AMLGENTEX_SRC=DIR python run_generate.py EXP/config/data.yaml
"""
import os
import sys
import time
import types

SRC = os.environ.get('AMLGENTEX_SRC', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'src'))
sys.path.insert(0, SRC)
sys.modules['src.utils.utils'] = types.ModuleType('src.utils.utils')

sys.argv = [os.path.join(SRC, 'scripts', 'generate.py')] + sys.argv[1:]
sys.path.insert(0, os.path.join(SRC, 'scripts'))
import generate  # noqa: E402

conf = os.path.abspath(sys.argv[1])
t = time.time()
generate.main(conf, verbose=True)
print('time:', round(time.time() - t, 1), 'seconds')
