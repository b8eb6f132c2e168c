"""The service's routes, one APIRouter per concern; ``create_app`` includes them all."""
