"""The sandbox: its client in the judge (client), its server where student code runs (server), and the plain data between them (wire)."""
