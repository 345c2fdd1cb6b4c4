"""chassisd driver package (redfish); see its modules."""
