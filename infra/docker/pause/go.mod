module smith.local/pause

go 1.22
