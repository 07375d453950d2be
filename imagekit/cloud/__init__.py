"""Everything that talks to clouds: connections from clouds.yaml
(`connect`), the mapping of client-library errors to CloudError
(`errors`), Glance upload and Trove registration, Nova flavors, and the
local test cloud (`devcloud`)."""
