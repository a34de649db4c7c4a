"""``H2OGridSearch``: H2O's grid search over any estimator parameter, on the shared model layer.

The grid builds ``<grid_id>_model_<n>`` models (numbered as H2O numbers them),
keeps the failures apart, ranks the models by H2O's default metric and registers itself so that
``h2o.get_grid(grid_id)`` finds it. Training again, or a new grid with the same ``grid_id``,
builds only the combinations the grid does not hold yet.
"""
from __future__ import annotations

import itertools
import time

from daskml_h2o import registry
from daskml_h2o.grid import ranking
from daskml_h2o.grid.build import BuildPlan, Job, run_build
from daskml_h2o.grid.hyperspace import (cartesian, check_hyper_params, check_param_names, check_search_criteria,
                                        hyper_names, random_discrete, space_size)
from daskml_h2o.models.base import H2OEstimator, H2OValueError
from daskml_h2o.models.tables import H2OTwoDimTable
from daskml_h2o.progress import ProgressBar

__all__ = ["H2OGridSearch"]

_SESSION_TS = int(time.time() * 1000)
_grid_counter = itertools.count(1)


def _frame_key(frame):
    return None if frame is None else getattr(frame, "frame_id", None) or id(frame)


def _all_params(cls, params) -> dict:
    """Every parameter of the model these params build, defaults included (the given values
    alone when the estimator refuses them)."""
    try:
        return cls(**params).get_params()
    except Exception:  # the build fails and reports it; keep what was asked for
        return dict(params)


def _full_params(cls, params) -> str:
    """Two combinations that differ only by spelling out a default are the same model."""
    return repr(sorted((k, v) for k, v in _all_params(cls, params).items() if k != "model_id"))


def _check_columns(frame, x, y):
    """h2o-py's checks of train()'s frame and column references, before any build; returns y."""
    from daskml_h2o.frame import H2OFrame
    if frame is None:
        raise H2OValueError("Missing training_frame")
    if not isinstance(frame, H2OFrame):
        raise H2OValueError(f"training_frame must be an H2OFrame, got {type(frame).__name__}")
    if isinstance(y, (list, tuple)):
        if len(y) != 1:
            raise H2OValueError(f"y must be a single column reference, got {y!r}")
        y = y[0]
    names = frame.names
    for ref in ([] if x is None else [x] if isinstance(x, (str, int)) else list(x)) + ([] if y is None else [y]):
        if isinstance(ref, int) and not isinstance(ref, bool):
            if not -len(names) <= ref < len(names):
                raise H2OValueError(f"Column {ref} does not exist in the training frame")
        elif ref not in names:
            raise H2OValueError(f"Column {ref!r} not in the training frame")
    return y


def _cell(value):
    return list(value) if isinstance(value, tuple) else value


class _GridState:
    """What a grid id holds across ``train()`` calls and grid objects sharing the id."""

    def __init__(self):
        self.built = []           # models in build order
        self.fingerprints = set()
        self.failures = []        # dicts: params, raw, detail, trace
        self.kind = None


class H2OGridSearch:
    """Grid search of a hyper-parameter space for a model (H2O's ``H2OGridSearch``).

    ``model`` is an estimator class or instance (an instance's parameters are the base of every
    model); ``hyper_params`` maps parameter names to lists of values (list-valued parameters such
    as ``hidden`` take a list of lists). ``search_criteria``: ``{"strategy": "Cartesian"}``
    (default: every combination) or ``{"strategy": "RandomDiscrete", "max_models", "max_runtime_secs",
    "seed", "stopping_rounds", "stopping_metric", "stopping_tolerance"}``.

    As in h2o-py, ``grid.models``, ``model_ids`` and iteration are best first by the grid's sort
    metric (logloss / residual deviance ascending; xval, else validation, else training metrics);
    ``<grid_id>_model_<n>`` tells the build order.

    Differences from H2O:

    - ``parallelism`` defaults to 0 (adaptive): models train side by side, one per cluster thread
      and no more than half the cluster's memory holds copies of the training data. H2O defaults to
      1 (sequential); pass ``parallelism=1`` for that. Reproducible builds (GBM, Deep Learning with
      ``reproducible=True``) give the same models either way: each combination's model number and
      seed are fixed when it is drawn. RandomDiscrete's runtime budget and early stopping are
      checked as models finish, so with several builders a few more models may start before a
      rule stops the search.
    - ``print(grid)`` / ``grid.show()`` also print the failure table when combinations failed.
    - ``export_checkpoints_dir`` and ``recovery_dir`` are not supported yet (ValueError when set).
    - A RandomDiscrete search's ``max_runtime_secs`` stops launching new models once spent; models
      already running finish (H2O also limits each model to the time left).
    """

    def __init__(self, model, hyper_params, grid_id=None, search_criteria=None, export_checkpoints_dir=None,
                 recovery_dir=None, parallelism=0):
        if isinstance(model, type) and issubclass(model, H2OEstimator):
            model = model()
        if not isinstance(model, H2OEstimator):
            raise H2OValueError(f"model must be an H2O estimator class or instance, got {type(model).__name__}")
        if grid_id is not None and (not isinstance(grid_id, str) or not grid_id):
            raise H2OValueError(f"grid_id must be a non-empty string, got {grid_id!r}")
        for name, value in (("export_checkpoints_dir", export_checkpoints_dir), ("recovery_dir", recovery_dir)):
            if value is not None:
                raise H2OValueError(f"H2OGridSearch({name}=...) is not supported yet in daskml_h2o; save the "
                                    f"models with h2o.save_model instead")
        if isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 0:
            raise H2OValueError(f"parallelism must be 0 (adaptive), 1 (sequential) or a number of models "
                                f"built at once, got {parallelism!r}")
        if not isinstance(hyper_params, dict):
            raise H2OValueError(f"hyper_params must be a dict of parameter name -> list of values, "
                                f"got {type(hyper_params).__name__}")
        check_param_names(type(model), hyper_params, "hyper-parameter")
        if search_criteria is not None and not isinstance(search_criteria, dict):
            raise H2OValueError(f"search_criteria must be a dict, got {type(search_criteria).__name__}")
        self.model = model
        self.hyper_params = dict(hyper_params)
        self.search_criteria = None if search_criteria is None else dict(search_criteria)
        self.export_checkpoints_dir = export_checkpoints_dir
        self.recovery_dir = recovery_dir
        self._parallelism = parallelism
        self._id = grid_id
        self._state = _GridState()
        self._sort = None           # (metric, decreasing) chosen by get_grid
        self._criteria = None

    # -- identity ---------------------------------------------------------------------------
    @property
    def grid_id(self):
        return self._id

    @property
    def key(self):
        return self._id

    # -- training ---------------------------------------------------------------------------
    def train(self, x=None, y=None, training_frame=None, offset_column=None, fold_column=None, weights_column=None,
              validation_frame=None, **params):
        """Build every combination not built yet (Cartesian) or a random draw of them (RandomDiscrete);
        ``params`` are estimator parameters shared by all models. Returns the grid."""
        y = _check_columns(training_frame, x, y)
        cls = type(self.model)
        fixed = self._fixed_params(cls, params)
        hyper = check_hyper_params(cls, self.hyper_params, fixed)
        criteria = check_search_criteria(self.search_criteria)
        self._criteria = criteria
        if self._id is None:
            self._id = (f"Grid_{cls._algo_name}_{_frame_key(training_frame)}_model_python_"
                        f"{_SESSION_TS}_{next(_grid_counter)}")
        self._adopt(registry.get(self._id), cls)
        columns = dict(x=x, y=y, training_frame=training_frame, validation_frame=validation_frame,
                       offset_column=offset_column, fold_column=fold_column, weights_column=weights_column)
        plan = self._plan(cls, hyper, fixed, criteria, columns)
        expected = space_size(hyper)
        if criteria["max_models"]:
            expected = min(expected, criteria["max_models"])
        with ProgressBar(f"{cls.algo} Grid Build") as bar:
            plan.on_done = lambda n_done: bar.update(n_done / expected)
            attempts = run_build(plan, self._parallelism, frame=training_frame)
        self._record(attempts, hyper)
        registry.register(self, self._id)
        self._report_failures(attempts)
        if not self._state.built:
            details = "\n".join(a.error.__class__.__name__ + ": " + str(a.error) for a in attempts if a.error)
            raise H2OValueError(details or "Gridsearch returns no model due to bad parameter values or other reasons")
        return self

    def _fixed_params(self, cls, params) -> dict:
        check_param_names(cls, params, "train() parameter")
        if "model_id" in params:
            raise H2OValueError("model_id cannot be given to a grid: its models are named <grid_id>_model_<n>")
        fixed = {k: v for k, v in self.model._input.items() if k != "model_id"}
        for name, value in params.items():
            if name in self.model._input and self.model._input[name] != value:
                raise H2OValueError(f"parameter {name!r} is set both on the grid's model ({self.model._input[name]!r}) "
                                    f"and in train() ({value!r}); set it in one place")
            fixed[name] = value
        return fixed

    def _adopt(self, prior, cls) -> None:
        """Continue the grid already registered under this id (resume / extend)."""
        if prior is None or prior is self or not isinstance(prior, H2OGridSearch):
            if prior is not None and not isinstance(prior, H2OGridSearch):
                raise H2OValueError(f"grid_id {self._id!r} is already the key of a {type(prior).__name__}; "
                                    f"choose another grid_id")
            return
        if type(prior.model) is not cls:
            raise H2OValueError(f"grid {self._id!r} holds {type(prior.model).__name__} models; a "
                                f"{cls.__name__} grid needs another grid_id")
        self._state = prior._state

    def _plan(self, cls, hyper, fixed, criteria, columns) -> BuildPlan:
        names = hyper_names(hyper)
        random = criteria["strategy"] == "RandomDiscrete"
        walk = random_discrete(hyper, criteria["seed"]) if random else cartesian(hyper)
        derive_seed = random and "seed" not in fixed and "seed" not in hyper
        state = self._state
        frames = tuple(_frame_key(columns[k]) for k in ("training_frame", "validation_frame"))
        others = tuple(repr(columns[k]) for k in ("x", "y", "offset_column", "fold_column", "weights_column"))

        drawn = set()
        # H2O numbers a model by the grid's model count when the call starts plus the combination's
        # position in this call's walk (so combinations already built still use up numbers)
        start = len(state.built)
        taken = {m.model_id for m in state.built}

        def jobs():
            for index, combo in enumerate(walk):
                params = dict(fixed, **dict(zip(names, combo)))
                if derive_seed:
                    params["seed"] = criteria["seed"] + index
                fingerprint = (frames, others, _full_params(cls, params))
                if fingerprint in state.fingerprints or fingerprint in drawn:
                    continue
                drawn.add(fingerprint)
                number = start + index + 1
                while f"{self._id}_model_{number}" in taken:
                    number += 1
                taken.add(f"{self._id}_model_{number}")
                params["model_id"] = f"{self._id}_model_{number}"
                yield Job(index=index, number=number, combo=combo, params=params, fingerprint=fingerprint)

        def build(job):
            model = cls(**job.params)
            return model.train(**{k: v for k, v in columns.items() if v is not None})

        def stop_rule(models):
            kind = state.kind or (models[0]._spec.kind if models else None)
            return ranking.stop_search(models, criteria, kind)

        return BuildPlan(jobs=jobs(), build=build, max_models=criteria["max_models"],
                         max_runtime_secs=criteria["max_runtime_secs"], stop_rule=stop_rule,
                         prior_models=list(state.built))

    def _record(self, attempts, hyper) -> None:
        names = hyper_names(hyper)
        # a combination tried again replaces its earlier failure (as H2O lists it once)
        tried = {a.job.fingerprint for a in attempts}
        self._state.failures = [f for f in self._state.failures if f["fingerprint"] not in tried]
        for attempt in attempts:
            if attempt.model is not None:
                self._state.built.append(attempt.model)
                self._state.fingerprints.add(attempt.job.fingerprint)
                self._state.kind = self._state.kind or attempt.model._spec.kind
            else:
                self._state.failures.append({
                    "params": _all_params(type(self.model), attempt.job.params), "raw": [str(_cell(v)) for v in attempt.job.combo],
                    "hyper": dict(zip(names, attempt.job.combo)), "detail": f"{type(attempt.error).__name__}: "
                    f"{attempt.error}\n", "trace": attempt.trace, "model_id": attempt.job.params["model_id"],
                    "fingerprint": attempt.job.fingerprint})

    def _report_failures(self, attempts) -> None:
        failed = [a for a in attempts if a.error is not None]
        if not failed:
            return
        print("Errors/Warnings building gridsearch model\n")
        for a in failed:
            for name, value in zip(hyper_names(self.hyper_params), a.job.combo):
                print(f"Hyper-parameter: {name}, {_cell(value)}")
            print(f"failure_details: {type(a.error).__name__}: {a.error}\n")

    # -- results ----------------------------------------------------------------------------
    @property
    def _sort_spec(self):
        if self._sort is not None:
            return self._sort
        return ranking.default_sort_metric(self._state.kind), False

    @property
    def models(self) -> list:
        """The models, best first by the grid's sort metric (H2O's order: default metric ascending)."""
        metric, decreasing = self._sort_spec
        return ranking.order_models(self._state.built, metric, decreasing)

    @property
    def model_ids(self) -> list:
        return [m.model_id for m in self.models]

    @property
    def hyper_names(self) -> list:
        return hyper_names(self.hyper_params)

    @property
    def failed_params(self) -> list:
        """The full parameters of every failed combination."""
        return [f["params"] for f in self._state.failures]

    @property
    def failed_raw_params(self) -> list:
        """The hyper-parameter values of every failed combination, as strings in ``hyper_names`` order."""
        return [f["raw"] for f in self._state.failures]

    @property
    def failure_details(self) -> list:
        return [f["detail"] for f in self._state.failures]

    @property
    def failure_stack_traces(self) -> list:
        return [f["trace"] for f in self._state.failures]

    @property
    def warning_details(self) -> list:
        return []

    def __getitem__(self, item):
        return self.models[item]

    def __iter__(self):
        return iter(self.models)

    def __len__(self):
        return len(self._state.built)

    def get_grid(self, sort_by=None, decreasing=None) -> "H2OGridSearch":
        """This grid with its models ordered by ``sort_by`` (default: the grid's metric), ascending
        unless ``decreasing``."""
        if sort_by is None and decreasing is None:
            return self
        metric = ranking.canonical_sort_metric(sort_by) if sort_by is not None else self._sort_spec[0]
        view = H2OGridSearch.__new__(H2OGridSearch)
        view.__dict__.update(self.__dict__)
        view._sort = (metric, bool(decreasing))
        return view

    def sorted_metric_table(self, use_pandas=True):
        """The "Hyper-Parameter Search Summary" table: hyper-parameters, ``model_ids`` and the sort metric."""
        table = self._metric_table()
        return table.as_data_frame() if use_pandas else table

    def _metric_table(self) -> H2OTwoDimTable:
        metric, decreasing = self._sort_spec
        names = self.hyper_names
        rows = [[""] + [_cell(m.get_params().get(n)) for n in names] + [m.model_id, ranking.sort_value(m, metric)]
                for m in self.models]
        order = "decreasing" if decreasing else "increasing"
        return H2OTwoDimTable(table_header=f"Hyper-Parameter Search Summary: ordered by {order} {metric}",
                              col_header=[""] + names + ["model_ids", metric], cell_values=rows)

    def _failure_table(self) -> H2OTwoDimTable:
        names = self.hyper_names
        rows = [[""] + [_cell(f["hyper"].get(n)) for n in names] + [f["model_id"], f["detail"].strip()]
                for f in self._state.failures]
        return H2OTwoDimTable(table_header="Failed Models", col_header=[""] + names + ["model_ids", "failure_details"],
                              cell_values=rows)

    def _describe(self) -> str:
        if not self._state.built and not self._state.failures:
            # the first combinations only: a random search's space can be astronomically large
            combos = [[i + 1, list(c)] for i, c in enumerate(itertools.islice(cartesian(self.hyper_params), 100))] \
                if self.hyper_params and all(isinstance(v, (list, tuple)) and v for v in self.hyper_params.values()) \
                else []
            return str(H2OTwoDimTable(table_header=f"Grid Search of Model {type(self.model).__name__}",
                                      col_header=["Model", f"Hyperparameters: [{', '.join(self.hyper_names)}]"],
                                      cell_values=combos))
        parts = [str(self._metric_table())]
        if self._state.failures:
            parts.append(str(self._failure_table()))
        return "\n\n".join(parts)

    def show(self):
        print(self._describe())

    def __repr__(self):
        return self._describe()

    def _repr_html_(self):
        import html
        return f"<pre>{html.escape(self._describe())}</pre>"

    def get_summary(self) -> H2OTwoDimTable:
        """One row per model: its id and its model summary (H2O's "Grid Summary")."""
        rows, header = [], None
        for model in self.models:
            summary = model.summary()
            if summary is None:
                continue
            header = header or summary.col_header
            rows.append([model.model_id] + list(summary.cell_values[0]))
        return H2OTwoDimTable(table_header="Grid Summary", col_header=["Model Id"] + list(header or []),
                              cell_values=rows)

    def show_summary(self):
        print(self.get_summary())

    def summary(self):
        self.show_summary()

    def get_hyperparams(self, id, display=True) -> list:
        """The hyper-parameter values of model ``id`` (its index in ``models`` or its model id)."""
        model = self._model_by(id)
        if display:
            print(f"Hyperparameters: [{', '.join(self.hyper_names)}]")
        return [_cell(model.get_params().get(n)) for n in self.hyper_names]

    def get_hyperparams_dict(self, id, display=True) -> dict:
        model = self._model_by(id)
        if display:
            print(f"Hyperparameters: [{', '.join(self.hyper_names)}]")
        return {n: _cell(model.get_params().get(n)) for n in self.hyper_names}

    def _model_by(self, id):
        if isinstance(id, int):
            return self.models[id]
        ids = self.model_ids
        if id not in ids:
            raise H2OValueError(f"model {id!r} is not in grid {self._id!r}; grid.model_ids lists them")
        return self.models[ids.index(id)]

    # -- per-model views (dict model_id -> value, as h2o-py) ---------------------------------
    def _each(self, method, *args, **kwargs) -> dict:
        return {m.model_id: getattr(m, method)(*args, **kwargs) for m in self.models}

    def predict(self, test_data):
        return self._each("predict", test_data)

    def model_performance(self, test_data=None, train=False, valid=False, xval=False):
        return self._each("model_performance", test_data, train, valid, xval)

    def scoring_history(self):
        return self._each("scoring_history")

    def varimp(self, use_pandas=False):
        return self._each("varimp", use_pandas)

    def is_cross_validated(self):
        return {m.model_id: m._metrics.get("xval") is not None for m in self.models}


def _metric_accessor(method):
    def accessor(self, train=False, valid=False, xval=False):
        return self._each(method, train, valid, xval)
    accessor.__name__ = method
    accessor.__doc__ = f"``{method}`` of every model: dict model_id -> value (train unless valid/xval)."
    return accessor


for _method in ("mse", "rmse", "mae", "rmsle", "r2", "logloss", "mean_residual_deviance", "auc", "aucpr", "pr_auc",
                "gini", "mean_per_class_error"):
    setattr(H2OGridSearch, _method, _metric_accessor(_method))


def _residual_deviance(self, train=False, valid=False, xval=False):
    """Residual deviance of every model (None where the metrics have none), dict model_id -> value."""
    return {m.model_id: m._metric("residual_deviance", train, valid, xval) for m in self.models}


H2OGridSearch.residual_deviance = _residual_deviance
