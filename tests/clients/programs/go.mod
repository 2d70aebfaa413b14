module airlock.test/clients

go 1.19
