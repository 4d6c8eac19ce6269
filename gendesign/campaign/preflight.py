"""Everything a campaign needs, checked before any work: one sentence per problem."""

from __future__ import annotations

from pathlib import Path

from gendesign.campaign import resources
from gendesign.campaign.config import CampaignConfig
from gendesign.errors import ConfigError, GendesignError


def check_campaign(config: CampaignConfig, source: str = "campaign config") -> None:
    """Raise :class:`ConfigError` naming the field when the generative model, the
    predictor, the potential or the data cannot serve this config."""
    from gendesign.data.datasets import DATASETS
    from gendesign.paths import resolve_data_root
    from relax.potentials import check_potential_name

    if "model" in config.generate.sources:
        _check_model(config, source)

    spec = config.screen.predictor
    predictor = _resolved(
        source,
        "screen.predictor",
        lambda: resources.predictor(tuple(spec) if isinstance(spec, list) else spec),
    )
    for name in config.targets:
        if name not in predictor.targets:
            raise ConfigError(
                f"{source}: field 'targets.{name}': the screening predictor does not predict "
                f"it (it predicts {', '.join(predictor.targets)})"
            )

    relax = config.relax
    _resolved(source, "relax.potential", lambda: check_potential_name(relax.potential))
    if relax.potential_path and not Path(relax.potential_path).exists():
        raise ConfigError(
            f"{source}: field 'relax.potential_path': no file at {relax.potential_path}"
        )
    _check_judges(config, source)
    known = config.audit.known
    if known is not None and not Path(known).exists():
        raise ConfigError(f"{source}: field 'audit.known': no file or folder at {known}")

    reference = config.audit.novelty_reference
    if reference is not None and reference not in DATASETS:
        raise ConfigError(
            f"{source}: field 'audit.novelty_reference': unknown dataset '{reference}' "
            f"(known: {', '.join(DATASETS)})"
        )
    _resolved(source, "data_root", lambda: resolve_data_root(config.data_root))
    # the templates first: the novelty reference holds their crystals and reuses their
    # descriptors instead of computing them again
    _check_template_sources(config, source)
    if reference is not None or known is not None:  # builds its cache once, here
        _resolved(
            source,
            "audit.known" if reference is None else "audit.novelty_reference",
            lambda: resources.novelty_reference(reference, config.data_root, known),
        )


def _check_model(config: CampaignConfig, source: str) -> None:
    """The generative model loads, takes the sampling settings and can honour the
    constraints and targets."""
    generator = _resolved(
        source, "generate.model", lambda: resources.generator(config.generate.model)
    )
    model = generator.model
    _resolved(
        source, "generate.sampling", lambda: generator.sampling_with(config.generate.sampling)
    )
    try:
        config.constraints().check_against(
            model.atomic_numbers.tolist(), model.max_atoms, model.property_names
        )
    except ConfigError as err:
        message = str(err).replace("--target", "targets").replace("--", "")
        raise ConfigError(f"{source}: {message}") from None
    needs_flow = {
        "generate.compositions: hull": config.generate.composition_mode(config.elements) == "hull",
        f"rounds: {config.rounds} (the model learns between rounds)": config.rounds > 1
        and config.learning.steps > 0,
    }
    for what, wanted in needs_flow.items():
        if wanted and not generator.is_flow:
            raise ConfigError(
                f"{source}: field '{what}' needs a crystalflow model; "
                f"'{config.generate.model}' is a cdvae model"
            )


def _check_judges(config: CampaignConfig, source: str) -> None:
    """The second potential loads (weights, element references) and the property judge reads."""
    from relax.potentials import check_potential_name

    judge = config.judge
    if not judge.enabled:
        return
    if judge.potential is not None:
        _resolved(source, "judge.potential", lambda: check_potential_name(judge.potential))
        second = _resolved(
            source,
            "judge.potential_path" if judge.potential_path else "judge.potential",
            lambda: resources.potential(judge.potential, judge.potential_path),
        )
        from relax.potentials import announce_potential

        # says once that "auto" falls back to CHGNet, before the load below could say it too
        announce_potential(config.relax.potential, config.relax.potential_path)
        first = _resolved(
            source,
            "relax.potential",
            lambda: resources.potential(config.relax.potential, config.relax.potential_path),
        )
        if second.info.name == first.info.name:
            raise ConfigError(
                f"{source}: field 'judge.potential': the second judge must differ from the "
                f"relaxation potential ({first.info.name})"
            )
        # element references (fitted here on first use, before any worker starts) and the hull
        _resolved(
            source,
            "judge.potential",
            lambda: resources.stability_references(
                judge.potential, judge.potential_path, config.data_root, config.hull
            ),
        )
    if judge.properties and config.targets:
        _resolved(source, "judge.properties", resources.property_judge)


def _check_template_sources(config: CampaignConfig, source: str) -> None:
    """The template dataset exists and each template source has templates to work with."""
    from gendesign.data.datasets import DATASETS

    wanted = [name for name in config.generate.sources if name != "model"]
    if not wanted:
        return
    dataset = config.generate.templates
    if dataset not in DATASETS:
        raise ConfigError(
            f"{source}: field 'generate.templates': unknown dataset '{dataset}' "
            f"(known: {', '.join(DATASETS)})"
        )
    for name in wanted:
        drawer = _resolved(
            source,
            "generate.templates",
            lambda name=name: resources.template_source(
                name, dataset, config.data_root, config.constraints()
            ),
        )
        if not (drawer.templates if name == "substitution" else drawer.prototypes):
            raise ConfigError(
                f"{source}: field 'generate.sources.{name}': no {dataset} training crystal "
                "can be turned into a candidate under elements/exclude/atoms; "
                "relax them or drop this source"
            )


def _resolved(source: str, field: str, load):
    try:
        return load()
    except GendesignError as err:
        raise ConfigError(f"{source}: field '{field}': {err}") from None
