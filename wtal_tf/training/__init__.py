"""Trainers (thin orchestration of keras fit), callbacks and run directories."""
