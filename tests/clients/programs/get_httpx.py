# One GET with Python httpx. Proxy (HTTPS_PROXY, with its credentials) and trust (SSL_CERT_FILE) come from
# the environment: httpx reads both natively while trust_env is on (the default; spelled out here).
#   python3 get_httpx.py URL      (token from API_TOKEN)
import os
import sys

import httpx

with httpx.Client(trust_env=True, timeout=30) as client:
    response = client.get(sys.argv[1], headers={"Authorization": "Bearer " + os.environ["API_TOKEN"]})
print(response.status_code)
print(response.text)
sys.exit(0 if response.is_success else 1)
