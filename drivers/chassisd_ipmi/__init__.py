"""chassisd driver package (ipmi); see its modules."""
