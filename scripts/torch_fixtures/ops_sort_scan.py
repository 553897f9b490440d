"""Reference values for sort, argsort, topk, cumsum, cumprod, nonzero, masked_select and einsum
(issue 14): forward values, and for the differentiable ones the gradient of sum(w * out) for the
stored weights w, from PyTorch 1.13 on the CPU."""
import torch
from torch_fixtures.common import enc, grad_case

NAN = float('nan')

def generate():
    g = torch.Generator().manual_seed(14)
    r = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64) * 4 - 2
    cases = {}

    # sort / argsort: NaN, ties, -0.0, infinities; stable order
    x = torch.tensor([[3., 1., NAN, 2., 1., -float('inf')],
                      [0., -0., 5., 5., NAN, float('inf')],
                      [2., 2., 2., -1., NAN, NAN]], dtype=torch.float64)
    sorts = []
    for dim in (1, 0, -1):
        for desc in (False, True):
            v, i = torch.sort(x, dim=dim, descending=desc, stable=True)
            sorts.append({'dim': dim, 'descending': desc, 'values': enc(v), 'indices': enc(i),
                          'argsort': enc(torch.argsort(x, dim=dim, descending=desc, stable=True))})
    cases['sort'] = {'x': enc(x), 'runs': sorts}
    xi = torch.tensor([[5, -3, 5, 0], [2, 2, -7, 9]], dtype=torch.int32)
    v, i = torch.sort(xi, dim=1, descending=True, stable=True)
    cases['sort_int32'] = {'x': enc(xi), 'values': enc(v), 'indices': enc(i)}
    xb = torch.tensor([True, False, True, False])
    v, i = torch.sort(xb, stable=True)
    cases['sort_bool'] = {'x': enc(xb), 'values': enc(v), 'indices': enc(i)}
    cases['sort_grad'] = [
        dict(grad_case(lambda a: torch.sort(a, dim=1)[0], [r(3, 5)], 1), dim=1, descending=False),
        dict(grad_case(lambda a: torch.sort(a, dim=0, descending=True)[0], [r(4, 3)], 2), dim=0, descending=True),
    ]

    # topk: distinct values (torch's tie order is unspecified), NaN counts as largest
    xt = r(4, 6)
    tops = []
    for k, dim, largest in ((2, 1, True), (3, 0, False), (6, 1, True), (0, 1, True)):
        v, i = torch.topk(xt, k, dim=dim, largest=largest)
        tops.append({'k': k, 'dim': dim, 'largest': largest, 'values': enc(v), 'indices': enc(i)})
    cases['topk'] = {'x': enc(xt), 'runs': tops}
    xn = torch.tensor([1., NAN, 3., -2.], dtype=torch.float64)
    cases['topk_nan'] = {'x': enc(xn),
                         'largest': [enc(t) for t in torch.topk(xn, 2)],
                         'smallest': [enc(t) for t in torch.topk(xn, 2, largest=False)]}
    cases['topk_grad'] = [dict(grad_case(lambda a: torch.topk(a, 2, dim=1)[0], [r(3, 5)], 3), k=2, dim=1, largest=True),
                          dict(grad_case(lambda a: torch.topk(a, 2, dim=0, largest=False)[0], [r(4, 3)], 4), k=2, dim=0, largest=False)]

    # cumsum / cumprod: values, dtypes, gradients (cumprod with zeros)
    cases['cumsum_grad'] = [dict(grad_case(lambda a: torch.cumsum(a, 1), [r(3, 5)], 5), dim=1),
                            dict(grad_case(lambda a: torch.cumsum(a, 0), [r(4, 2, 3)], 6), dim=0),
                            dict(grad_case(lambda a: torch.cumsum(a, -1), [r(7)], 7), dim=-1)]
    zeros_in = torch.tensor([[2., 0., 3., 0., 4., 1.5],
                             [0., 0., 1., 2., 3., -1.],
                             [1.5, -2., 0.5, 3., -1., 2.],
                             [1., 2., 3., 4., 5., 0.]], dtype=torch.float64)
    cases['cumprod_grad'] = [dict(grad_case(lambda a: torch.cumprod(a, 1), [zeros_in], 8), dim=1),
                             dict(grad_case(lambda a: torch.cumprod(a, 0), [zeros_in], 9), dim=0),
                             dict(grad_case(lambda a: torch.cumprod(a, 1), [r(3, 4) * 0.8], 10), dim=1)]
    xi = torch.tensor([[1, 2, 3], [4, -5, 6]], dtype=torch.int32)
    xu = torch.tensor([200, 100, 7], dtype=torch.uint8)
    cases['scan_dtypes'] = {
        'int32': enc(xi), 'uint8': enc(xu), 'bool': enc(torch.tensor([True, False, True, True])),
        'cumsum_int32': enc(torch.cumsum(xi, 1)), 'cumprod_int32': enc(torch.cumprod(xi, 0)),
        'cumsum_uint8': enc(torch.cumsum(xu, 0)), 'cumsum_bool': enc(torch.cumsum(torch.tensor([True, False, True, True]), 0)),
        'cumsum_int32_as_float32': enc(torch.cumsum(xi, 1, dtype=torch.float32)),
        'float32': enc(torch.tensor([0.1, 0.2, 0.3, 1e8, 1.0, -1e8], dtype=torch.float32)),
        'cumsum_float32': enc(torch.cumsum(torch.tensor([0.1, 0.2, 0.3, 1e8, 1.0, -1e8], dtype=torch.float32), 0)),
    }

    # nonzero / masked_select
    xz = torch.tensor([[0., 1., 0., NAN], [2., 0., -0., 3.], [0., 0., 0., 0.]], dtype=torch.float64)
    cases['nonzero'] = {'x': enc(xz), 'out': enc(torch.nonzero(xz)),
                        'x1': enc(torch.tensor([0, 3, 0, 5], dtype=torch.int64)),
                        'out1': enc(torch.nonzero(torch.tensor([0, 3, 0, 5]))),
                        'x3': enc(torch.tensor([[[True, False], [False, True]], [[False, False], [True, True]]])),
                        'out3': enc(torch.nonzero(torch.tensor([[[True, False], [False, True]], [[False, False], [True, True]]])))}
    mask = torch.tensor([True, False, True])
    mask2 = torch.tensor([[[True], [False]], [[False], [True]]])
    cases['masked_select'] = [
        dict(grad_case(lambda a: torch.masked_select(a, mask), [r(2, 3)], 11), mask=enc(mask)),
        dict(grad_case(lambda a: torch.masked_select(a, mask2), [r(2, 3)], 12), mask=enc(mask2)),
        dict(grad_case(lambda a: torch.masked_select(a, torch.zeros(2, 3, dtype=torch.bool)), [r(2, 3)], 13),
             mask=enc(torch.zeros(2, 3, dtype=torch.bool))),
    ]

    # einsum
    eqs = [
        ('ij,jk->ik', [(2, 3), (3, 4)]), ('bij,bjk->bik', [(2, 3, 4), (2, 4, 5)]), ('ij->ji', [(2, 3)]),
        ('ii->i', [(3, 3)]), ('ii', [(3, 3)]), ('i,i->', [(4,), (4,)]), ('i,j->ij', [(3,), (2,)]),
        ('...->...', [(2, 3)]), ('ij,jk', [(2, 3), (3, 4)]), ('...ij,...jk->...ik', [(2, 1, 3, 4), (5, 4, 2)]),
        ('ij->', [(2, 3)]), ('ijk->kj', [(2, 3, 4)]), ('bn,anm,bm->ba', [(2, 3), (4, 3, 5), (2, 5)]),
        ('iij->j', [(3, 3, 2)]), ('ba', [(2, 3)]), ('Ba,aB', [(2, 3), (3, 2)]), ('i,i', [(3,), (3,)]),
        ('...j,j', [(2, 3), (3,)]), ('ij,j->i', [(3, 4), (4,)]), ('ij,kj->ik', [(2, 1), (3, 5)]),
    ]
    cases['einsum'] = [dict(grad_case(lambda *a, e=e: torch.einsum(e, *a), [r(*s) for s in shapes], 20 + n), equation=e)
                       for n, (e, shapes) in enumerate(eqs)]
    return cases
