"""Business rules and the transactions that apply them; views and jobs call these.

Grouped by business area, each a package that names its public modules (`PUBLIC` in its
`__init__.py`). Areas import only areas to their right:

    operators -> orders -> domains -> hosting -> customers -> common

`sweeps` and `retention` stand above the areas. A service takes its SQL from the `app/db/`
package of its own area or of one to its right (tests/unit/test_layers.py checks all three rules).
"""
