"""The simulated Rocket.Chat behind --demo (and the tests): several versions on one port."""
