"""`train` and `models list|promote`: the account's models in the MLflow registry."""

from __future__ import annotations

import argparse
import sys

from api.cli.common import err, progress_bar
from api.settings import Settings
from resolver.entities import spec_for
from resolver.errors import InputError
from resolver.linkage import load_model
from resolver.records import ENTITIES, Entity
from resolver.store import Store


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    """Retrain from the account's base and reviewers' decisions; register a version, promote if not worse."""
    from training.retrain import retrain

    entities: list[Entity] = [spec_for(args.entity).entity] if args.entity else list(ENTITIES)
    with Store(settings.db) as store:
        for entity in entities:
            if store.count_records(args.account, entity) < 2:
                if args.entity:
                    raise InputError.one(f"account {args.account!r} has too few {entity} records in {settings.db} "
                                         "to train on; run `crm-dedup import` first")
                continue
            with progress_bar(f"training {entity} model", not args.quiet) as progress:
                result = retrain(store, args.account, entity, tracking_uri=settings.mlflow_tracking_uri,
                                 default=load_model(entity, settings.models_dir), progress=progress)
            err(f"{entity}: {result.registered_model} version {result.version} from {result.n_records} records "
                 f"and {result.n_labels} labels ({result.evaluation}) in {result.seconds:.1f} s; {result.reason}")
            sys.stdout.write(f"{entity}\t{result.registered_model}\t{result.version}\t"
                             f"{'champion' if result.promoted else '-'}\n")
    return 0


def cmd_models_list(args: argparse.Namespace, settings: Settings) -> int:
    """The account's registered versions, newest first: version, aliases, thresholds, promotion note (TSV)."""
    from training.registry import Registry

    registry = Registry(settings.mlflow_tracking_uri)
    entities: list[Entity] = [spec_for(args.entity).entity] if args.entity else list(ENTITIES)
    sys.stdout.write("entity\tversion\taliases\treview_threshold\tauto_merge_threshold\tpromotion\n")
    for entity in entities:
        for v in registry.versions(args.account, entity):
            sys.stdout.write(f"{entity}\t{v.version}\t{','.join(v.aliases) or '-'}\t{v.review_threshold}\t"
                             f"{v.auto_merge_threshold}\t{v.tags.get('promotion', '')}\n")
    return 0


def cmd_models_promote(args: argparse.Namespace, settings: Settings) -> int:
    """Make VERSION the champion (a rollback is promoting an older one); servers follow within their refresh."""
    from training.registry import Registry

    entity: Entity = spec_for(args.entity).entity
    Registry(settings.mlflow_tracking_uri).promote(args.account, entity, args.version)
    err(f"{entity} model version {args.version} of account {args.account!r} is now the champion")
    return 0
