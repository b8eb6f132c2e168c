"""The closed loop: experiments that decide, monitoring, retraining."""
