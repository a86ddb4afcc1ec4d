# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # {title_md}
#
# A scaffolded notebook: it calls `minimal_impls/{module}.py`, records figures for the claims
# table (ours and a naive control's) and saves a plot. Replace it with the paper's story.
#
# Every random source derives from `paperclub.seed()`: 0 for the page's run, 1…4 when
# `paperclub sweep` re-runs the notebook to check that each claim holds on every seed.

# %%
import matplotlib.pyplot as plt

import paperclub
from minimal_impls import {module}

SEED = paperclub.seed()

# %%
result = {module}.run(seed=SEED)
paperclub.record("slope_error", result["slope_error"])
paperclub.record("naive_slope_error", result["naive_slope_error"])   # the control: ignore x

# %%
x, y = {module}.make_data(seed=SEED)
fig, ax = plt.subplots(figsize=(5, 3))
ax.scatter(x, y, s=8, label="data")
ax.plot(sorted(x), [result["slope"] * v + result["intercept"] for v in sorted(x)], color="C1", label="fit")
ax.set_title("Least-squares fit")
ax.legend()
paperclub.savefig(fig, "fit")
plt.show()

# %% [markdown]
# ## Take-aways
#
# - What the reader should remember.
