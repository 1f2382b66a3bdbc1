"""The config layer: the schema every experiment starts from, the one loader, and shared recipes.

* :func:`base_config` holds every section and its defaults; a model family's ``model_config()``
  (``snnjax.models.<family>``) holds its model keys, so each default is written once.
* :func:`load_config` loads ``configs/<name>.py[:arg]``, applies ``a.b.c=value`` overrides and returns
  the config locked, so a misspelt key is an error instead of a silently ignored setting. Every problem
  (missing file, syntax error, an exception inside ``get_config``, an unknown ``:arg``, a wrong value
  type, an unknown override key or an unparsable override value) is a one-line :class:`ConfigError`.
* :func:`parse_arg` checks a config file's ``:arg`` against its choices.
* :func:`spide_recipe` is the experiment recipe the SPIDE / IDE configs share.
"""

from __future__ import annotations

import ast
import importlib.resources
import importlib.util
import inspect
import os
import re
import traceback
from collections.abc import Sequence

import ml_collections

from snnjax.data import default_data_config
from snnjax.errors import ConfigError
from snnjax.losses import loss_config
from snnjax.models import feedback
from snnjax.models.common import model_config
from snnjax.train.optim import optim_config


def train_config(**overrides) -> ml_collections.ConfigDict:
    """The ``train`` section: batch sizes, length, logging and checkpoint cadence."""
    cfg = ml_collections.ConfigDict(
        dict(
            batch_size=128,  # global batch, sharded over all devices
            eval_batch_size=500,
            num_epochs=1,
            num_steps=-1,  # > 0 overrides num_epochs
            log_every=50,
            eval_every_epochs=1.0,
            checkpoint_every_steps=0,  # 0 = at every evaluation
            keep_checkpoints=3,
            progress_every_s=20.0,  # plain progress lines this often and at checkpoints (a bar: log points)
            writer="none",  # none | tensorboard | wandb: metrics.jsonl's scalars also sent there
            allow_schedule_change=False,  # resume although the learning-rate schedule changed (num_epochs...)
            memory_budget_gb=0.0,  # GiB for a step of a block_remat='auto' model (0: half the memory)
        )
    )
    cfg.update(overrides)
    return cfg


def mix_config(**overrides) -> ml_collections.ConfigDict:
    """The ``mix`` section: an on-device mix regulariser applied to each training batch."""
    cfg = ml_collections.ConfigDict(
        dict(
            name="none",  # none | a name in snnjax.registry.MIXES (mixup, cutmix, mixup_cutmix, spikingmix)
            prob=1.0,  # probability that a batch is mixed (the per-batch coin)
            per_epoch_coin=False,  # GAC seed option: one coin per epoch instead of per batch
            mixup_alpha=0.8,  # Beta(alpha, alpha) of Mixup's ratio
            cutmix_alpha=1.0,  # Beta(alpha, alpha) of CutMix's box area
            switch_prob=0.5,  # mixup_cutmix: probability of CutMix instead of Mixup (timm)
            label_smoothing=0.0,  # applied to the mixed soft labels
            # spikingmix source-centre scale gamma(lam) (docs/spikingmix.md; the values are our choice)
            centre_theta=1.0,
            centre_delta=0.0,
            centre_eps=0.01,
        )
    )
    cfg.update(overrides)
    return cfg


def eval_config(**overrides) -> ml_collections.ConfigDict:
    """The ``eval`` section: how the test split is evaluated (during training and by ``--mode=eval``)."""
    cfg = ml_collections.ConfigDict(
        dict(
            ensemble=1,  # stochastic passes averaged per prediction (noisy neurons; NSNN's --n_ensembles)
        )
    )
    cfg.update(overrides)
    return cfg


def base_config() -> ml_collections.ConfigDict:
    """Every section with its defaults; ``model`` holds only the keys all models share (a config sets
    ``config.model`` to its family's ``model_config()``)."""
    return ml_collections.ConfigDict(
        dict(
            seed=0,
            data=default_data_config(),
            model=model_config("mlp"),
            loss=loss_config(),
            optim=optim_config(),
            mix=mix_config(),
            train=train_config(),
            eval=eval_config(),
        )
    )


def spide_recipe(
    *,
    data: dict,
    model: str,
    num_steps: int,
    scale: float,
    learning_rate: float = 0.05,
    decay_epochs: tuple[int, ...] = (30, 60, 90),
    num_epochs: int = 100,
    warmup_steps: int = 0,
    eval_batch_size: int = 500,
    encoding: str = "direct",
    **model_keys,
) -> ml_collections.ConfigDict:
    """The experiment recipe of the SPIDE / IDE scripts: direct coding (``encoding='events'`` for event
    frames), SGD momentum 0.9 with weight decay
    5e-4 and a x0.1 step schedule at ``decay_epochs``, batch 128 (by default IDE's MNIST-family schedule:
    lr 0.05, x0.1 at epochs 30, 60 and 90 of 100).

    The loss scale ``s = scale`` multiplies every gradient (``model.scale_factor``) and divides the learning
    rate (``optim.lr_scale``), so the two stay equal and coupled weight decay is effectively ``wd / s``, as
    in SPIDE. ``model_keys`` override the feedback-model keys (``snnjax.models.feedback``).
    """
    config = base_config()
    config.data.update({"normalize": True, **data})
    config.model.update(
        name=model,
        num_steps=num_steps,
        encoding=encoding,
        **feedback.fsnn_model_config(scale_factor=scale, **model_keys),
    )
    config.optim.update(
        name="sgd",
        learning_rate=learning_rate,
        momentum=0.9,
        weight_decay=5e-4,
        lr_scale=scale,
        schedule="step",
        decay_epochs=tuple(decay_epochs),
        decay_factor=0.1,
        warmup_steps=warmup_steps,
    )
    config.train.update(batch_size=128, eval_batch_size=eval_batch_size, num_epochs=num_epochs, log_every=50)
    return config


IDE_MODEL_KEYS = dict(
    dropout=0.2,  # variational dropout of the layers' currents
    dropout_grad="masked",  # IDE differentiates the masked network (SPIDE's set_grad does not)
    gradient_at="reevaluation",  # autodiff of one evaluation of f(a*, x), as IDE's modules
    v_th=2.0,  # IDE's neuron: threshold 2, a spike subtracts 2 (SPIDE: threshold 1, subtracts 2)
    reset=2.0,
    feedback_norm=1.0,
    input_bn_updates=2,  # W_x's running statistics move in the forward and the re-evaluation (IDE's code)
)
"""The feedback-model keys every IDE-FSNN script shares (:func:`ide_recipe`)."""


def ide_recipe(**kwargs) -> ml_collections.ConfigDict:
    """:func:`spide_recipe` with IDE-FSNN's neuron, dropout and gradient (:data:`IDE_MODEL_KEYS`);
    ``kwargs`` override them."""
    return spide_recipe(**{**IDE_MODEL_KEYS, **kwargs})


# ------------------------------------------------------------------------------------------ loading
def parse_arg(arg: str | None, choices: Sequence[str], default: str) -> str:
    """A config file's ``:arg`` (``default`` when empty), checked against ``choices``."""
    value = (arg or "").strip() or default
    if value not in choices:
        raise ConfigError(f"unknown config argument {value!r}; choose one of {list(choices)}")
    return value


def load_config(spec: str, overrides: Sequence[str] = ()) -> ml_collections.ConfigDict:
    """Loads ``path/to/config.py[:arg]`` (its ``get_config([arg])``), applies ``overrides``
    (``"a.b.c=value"``, parsed by the type of the existing field) and returns the locked config."""
    path, _, arg = spec.partition(":")
    path = path if os.path.isfile(path) else bundled_config(path) or path
    if not os.path.isfile(path):
        raise ConfigError(f"config file {path} not found: pass a configs/<name>.py file")
    get_config = _get_config_function(path)
    takes_arg = bool(inspect.signature(get_config).parameters)
    if arg and not takes_arg:
        raise ConfigError(f"{path} takes no ':{arg}' argument")
    try:
        config = get_config(arg) if arg else get_config()
    except Exception as e:  # the config file's own code failed: name the file and line
        raise ConfigError(f"{_where(path, e)}{_one_line(e)}") from None
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"{path}: get_config() returned {type(config).__name__}, not a ConfigDict")
    for override in overrides:
        apply_override(config, override)
    config.lock()
    return config


def bundled_config(spec: str) -> str | None:
    """The path of the shipped config ``configs/<name>.py`` (or ``<name>``) inside the installed package,
    so the repository's config paths also work from a wheel; None if there is no such config."""
    head, name = os.path.split(spec)
    if head not in ("", "configs"):
        return None
    name = name if name.endswith(".py") else f"{name}.py"
    path = importlib.resources.files("snnjax.configs") / name
    return str(path) if path.is_file() else None


def _get_config_function(path: str):
    """``get_config`` of the config file at ``path``, imported as a fresh module."""
    try:
        with open(path) as f:
            compile(f.read(), path, "exec")
    except SyntaxError as e:
        raise ConfigError(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
    name = "snnjax_config_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception as e:
        raise ConfigError(f"{_where(path, e)}{_one_line(e)}") from None
    if not callable(getattr(module, "get_config", None)):
        raise ConfigError(f"{path} defines no get_config()")
    return module.get_config


def _where(path: str, error: BaseException) -> str:
    """``'path:line: '`` of the deepest frame of ``error``'s traceback inside the config file."""
    here = os.path.abspath(path)
    lines = [
        f.lineno for f in traceback.extract_tb(error.__traceback__) if os.path.abspath(f.filename) == here
    ]
    return f"{path}:{lines[-1]}: " if lines else f"{path}: "


def _one_line(error: BaseException) -> str:
    """The error as one line; ConfigErrors keep their message, others are prefixed with their type."""
    text = " ".join(str(error).strip("'\"").split())
    text = re.sub(r" Other fields present: .*", "", text)  # ml_collections lists the whole section
    return text if isinstance(error, ConfigError) else f"{type(error).__name__}: {text}"


def apply_override(config: ml_collections.ConfigDict, override: str) -> None:
    """Sets ``"a.b.c=value"`` in ``config``, parsing ``value`` by the type of the existing field."""
    key, sep, text = override.partition("=")
    key = key.strip().removeprefix("--config.")
    if not sep or not key:
        raise ConfigError(f"override {override!r} is not of the form a.b.c=value")
    *parents, leaf = key.split(".")
    section = config
    for depth, part in enumerate(parents):
        _check_key(section, part, ".".join(parents[:depth]))
        section = section[part]
        if not isinstance(section, ml_collections.ConfigDict):
            raise ConfigError(f"config key {'.'.join(parents[: depth + 1])!r} is a value, not a section")
    _check_key(section, leaf, ".".join(parents))
    if isinstance(section[leaf], ml_collections.ConfigDict):
        raise ConfigError(f"config key {key!r} is a section; set one of its keys: {sorted(section[leaf])}")
    value = parse_value(text, section.get_type(leaf), section[leaf], key)
    try:
        section[leaf] = value
    except (TypeError, ValueError) as e:
        raise ConfigError(f"cannot set config key {key!r} to {text!r}: {_one_line(e)}") from None


def _check_key(section: ml_collections.ConfigDict, key: str, where: str) -> None:
    if key not in section:
        place = f" in {where}" if where else ""
        raise ConfigError(f"unknown config key {key!r}{place}; valid keys{place}: {sorted(section)}")


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def parse_value(text: str, field_type: type, current, key: str = "value"):
    """An override's text as a value of ``field_type`` (bool, int, float, str, tuple; a field that holds
    None takes any Python literal, or the text as a string). ``'None'`` sets None."""
    text = text.strip()
    if text == "None":
        return None
    try:
        if field_type is bool:
            if text.lower() not in (*_TRUE, *_FALSE):
                raise ValueError(f"{text!r} is not true or false")
            return text.lower() in _TRUE
        if field_type is int:
            return int(text)
        if field_type is float:
            return float(text)
        if field_type is str:
            return text
        if field_type in (tuple, list):
            value = ast.literal_eval(text) if text else ()
            value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
            return value if field_type is tuple else list(value)
    except (ValueError, SyntaxError) as e:
        raise ConfigError(f"config key {key!r} needs a {field_type.__name__}, got {text!r} ({e})") from None
    if current is None or field_type is object:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
    raise ConfigError(f"config key {key!r} of type {field_type.__name__} cannot be set from the command line")
