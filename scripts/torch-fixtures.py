#!/usr/bin/python3
"""Writes the PyTorch reference values the tests compare against (test/fixtures/torch/<topic>.json).

Run with Debian's python3-torch (PyTorch 1.13, CPU):  /usr/bin/python3 scripts/torch-fixtures.py [topic ...]
Each topic is a module scripts/torch_fixtures/<topic>.py with a generate() returning a JSON-able dict;
tensors go through common.enc() so the JS side (test/helpers/torch-fixtures.ts) rebuilds them exactly.
The fixtures are committed, so `npm test` needs no torch.
"""
import importlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'test', 'fixtures', 'torch')
sys.path.insert(0, HERE)

def topics():
    return sorted(f[:-3] for f in os.listdir(os.path.join(HERE, 'torch_fixtures'))
                  if f.endswith('.py') and f != 'common.py' and not f.startswith('_'))

def main(argv):
    import torch
    wanted = argv or topics()
    os.makedirs(OUT, exist_ok=True)
    for name in wanted:
        mod = importlib.import_module('torch_fixtures.' + name)
        data = {'torch': torch.__version__, 'topic': name, 'cases': mod.generate()}
        path = os.path.join(OUT, name + '.json')
        with open(path, 'w') as f:
            json.dump(data, f, allow_nan=False, separators=(',', ':'))
            f.write('\n')
        print(f'wrote {os.path.relpath(path)}')

if __name__ == '__main__':
    main(sys.argv[1:])
