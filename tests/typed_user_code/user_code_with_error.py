"""A deliberate type error, which tests/test_typing.py expects mypy to report: its proof that
the check of user_code.py would find errors if there were any."""

import tinygrad_cnn as tg

tg.Tensor([1.0]).no_such_method()
