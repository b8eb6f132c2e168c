"""The diagnosis spec: the tabular spec plus notes, images, visits, a patient id and the
clinical policy (operating point, prevalence, recalibration, subgroups)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from tailorkit.evaluate.clinical import CLINICAL_METRICS, OperatingPolicy
from tailorkit.spec import Spec

TABULAR_FAMILIES = ("logistic", "lightgbm", "random_forest", "ft_transformer", "ensemble")
MODALITY_OF_FAMILY = {
    "text_classifier": "text",
    "image_cnn": "image",
    "visit_gru": "visits",
    "fusion": "fusion",
}
SEX_NAMES = ("sex", "gender")
AGE_NAMES = ("age", "age_years", "age_in_years")
METRICS = (*CLINICAL_METRICS, "fit_seconds", "predict_ms_per_1000")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _user_spec(info: ValidationInfo) -> bool:
    """False for a spec stored with a trained model (validated with ``context={"stored":
    True}``): it was checked when the model was trained, perhaps before a newer check."""
    return not (info.context or {}).get("stored")


class OperatingPointSection(_Strict):
    """One of: a sensitivity target, a specificity target, or a cost ratio; optional floors
    on the rate that is not the target."""

    sensitivity: float | None = Field(None, gt=0, le=1)
    specificity: float | None = Field(None, gt=0, le=1)
    min_specificity: float | None = Field(None, ge=0, le=1)
    min_sensitivity: float | None = Field(None, ge=0, le=1)
    cost_ratio: float | None = Field(
        None, gt=0, description="cost of a missed case in false alarms"
    )

    @model_validator(mode="after")
    def _exactly_one(self, info: ValidationInfo) -> OperatingPointSection:
        chosen = [k for k in ("sensitivity", "specificity", "cost_ratio") if getattr(self, k)]
        if len(chosen) != 1:
            raise ValueError(
                "give exactly one of sensitivity, specificity or cost_ratio "
                f"(got {', '.join(chosen) or 'none'})"
            )
        target = chosen[0]
        if getattr(self, f"min_{target}", None) is not None and _user_spec(info):
            raise ValueError(
                f"min_{target} is a floor beside a target on the other rate or a cost_ratio; "
                f"with a {target} target, raise {target} instead"
            )
        return self

    def policy(self) -> OperatingPolicy:
        return OperatingPolicy(**self.model_dump())


class TextModelSection(_Strict):
    encoder: str | None = Field(None, description="HF name or path; default: offline MiniLM")
    mode: Literal["frozen", "finetune", "lora"] = "frozen"
    max_length: int = Field(256, ge=8, le=512)
    max_epochs: int | None = Field(None, ge=1, description="finetune / lora epochs (default 3)")

    @model_validator(mode="after")
    def _epochs_train_an_encoder(self, info: ValidationInfo) -> TextModelSection:
        if self.mode == "frozen" and self.max_epochs is not None and _user_spec(info):
            raise ValueError(
                "max_epochs applies to mode finetune or lora; mode frozen fits a "
                "logistic-regression head on fixed embeddings (no epochs): remove max_epochs "
                "or set mode"
            )
        return self


class ImageModelSection(_Strict):
    size: int | None = Field(
        None, ge=8, le=256, description="side in pixels (default: most common)"
    )
    max_epochs: int = Field(40, ge=1)
    backbone: Literal["small", "resnet18", "resnet34"] = Field(
        "small", description="small (from scratch) or an ImageNet ResNet for pretrained weights"
    )
    pretrained_path: str | None = None


class VisitsSection(_Strict):
    file: str
    patient_col: str
    time_col: str
    features: list[str] | None = None
    max_visits: int = Field(20, ge=1)


class FusionSection(_Strict):
    modality_dropout: float = Field(0.25, ge=0, lt=1)
    max_epochs: int = Field(60, ge=1)


class DiagnosisSpec(Spec):
    """The tabular spec plus notes, images, visits, a patient id and the clinical policy."""

    solution: Literal["diagnosis"]  # type: ignore[assignment]
    patient: str | None = Field(None, description="patient id column: folds never split one")
    text: list[str] = []
    text_model: TextModelSection = TextModelSection()
    images: dict[str, str] = Field({}, description="{image name: column of file paths}")
    image_array: str | None = Field(None, description=".npy/.npz, one image per table row")
    image_model: ImageModelSection = ImageModelSection()
    visits: VisitsSection | None = None
    fusion: FusionSection = FusionSection()
    operating_point: OperatingPointSection = OperatingPointSection(sensitivity=0.9)
    prevalence: float | None = Field(None, gt=0, lt=1, description="for PPV / NPV")
    recalibration: Literal["none", "platt", "isotonic"] = "none"
    subgroups: list[str] | None = Field(None, description="default: sex and age bands")

    @model_validator(mode="after")
    def _one_image_source(self) -> DiagnosisSpec:
        if len(self.images) > 1:
            raise ValueError("one image column is supported (images: {name: path_column})")
        if self.images and self.image_array:
            raise ValueError("give images (a path column) or image_array, not both")
        return self

    @model_validator(mode="after")
    def _metric_ranks(self) -> DiagnosisSpec:
        if self.evaluation.metric not in ("auc", *CLINICAL_METRICS):  # auc: auroc
            raise ValueError(
                f"evaluation.metric {self.evaluation.metric!r} cannot rank the models; use "
                f"one of {', '.join(CLINICAL_METRICS)}"
            )
        return self

    @model_validator(mode="after")
    def _no_cost_section(self, info: ValidationInfo) -> DiagnosisSpec:
        if self.cost is not None and _user_spec(info):
            missed = self.cost.false_negative - self.cost.true_positive
            alarm = self.cost.false_positive - self.cost.true_negative
            ratio = f"{missed / alarm:g}" if missed > 0 and alarm > 0 else "N"
            raise ValueError(
                "cost is not used by the diagnosis solution: its decision threshold comes from "
                f"operating_point; for a cost trade-off set operating_point: {{cost_ratio: "
                f"{ratio}}} (a missed case costs that many false alarms) and remove cost"
            )
        return self


DEFAULTS: dict[str, Any] = {
    "models": [],  # empty: the solution's default candidates for the data's modalities
    "evaluation": {"protocol": "kfold", "folds": 5, "seed": 0, "metric": "auroc"},
    "ensemble": True,
}
DEFAULT_TABULAR = ("logistic", "lightgbm", "ft_transformer")
