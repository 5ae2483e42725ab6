"""Train an iris classifier and log it to MLflow (skops) with its signature and an input example."""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import mlflow.sklearn
import sklearn
import skops
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

EXPERIMENT = "iris-logreg"


@dataclass(frozen=True)
class TrainingResult:
    run_id: str
    accuracy: float
    model_uri: str
    model_id: str


def train_and_log(
    tracking_uri: str, *, c: float = 1.0, max_iter: int = 200, random_state: int = 42
) -> TrainingResult:
    """Fit logistic regression on iris (numpy in, so serving can call it on numpy without warnings)."""
    features, labels = load_iris(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.3, random_state=random_state, stratify=labels
    )
    model = LogisticRegression(C=c, max_iter=max_iter).fit(x_train, y_train)
    accuracy = float(accuracy_score(y_test, model.predict(x_test)))

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run() as run:
        mlflow.log_params({"C": c, "max_iter": max_iter, "random_state": random_state})
        mlflow.log_metric("accuracy", accuracy)
        logged = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(x_train, model.predict(x_train)),
            input_example=x_train[:1],
            # skops, not pickle: the serving app loads only formats that cannot run code when loaded.
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            # Explicit requirements: inferring them starts a subprocess that re-imports the model (~15 s).
            pip_requirements=[
                f"scikit-learn=={sklearn.__version__}",
                f"skops=={skops.__version__}",
                f"mlflow-skinny=={mlflow.__version__}",
            ],
        )
    return TrainingResult(
        run_id=run.info.run_id, accuracy=accuracy, model_uri=logged.model_uri, model_id=logged.model_id
    )
