# %% [markdown]
# # {title_md}
#
# A scaffolded notebook: it calls `minimal_impls/{module}.py`, records figures for the claims
# table (ours and a naive control's) and saves a plot. Replace it with the paper's story.

# %%
import matplotlib.pyplot as plt

import paperclub
from minimal_impls import {module}

# %%
result = {module}.run()
paperclub.record("slope_error", result["slope_error"])
paperclub.record("naive_slope_error", result["naive_slope_error"])   # the control: ignore x

# %%
x, y = {module}.make_data()
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
