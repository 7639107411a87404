"""Engines that reduce data too large for one machine to the summaries the gates decide on."""
