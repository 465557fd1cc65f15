import pytest
from interop.inbound import receive
from results.models import Observation
from tests.interop.hl7 import lab_visit, sample, ack_fields

pytestmark = pytest.mark.django_db

def test_probe():
    lab_visit()
    raw = sample("msfc_LAB-ORU-1.hl7")
    cut = raw[: raw.index(b"OBX|2|") + 30]
    print(repr(cut[-60:]))
    r = receive(raw=cut, transport="mllp", peer="t")
    print(r.ack.replace("\r", "\n"))
    print(list(Observation.objects.values_list("code_key", "status", "value_quantity")))
    g = raw.replace(b"OBX|3|", b"0BX|3|")
    r = receive(raw=g, transport="mllp", peer="t")
    print(r.ack.replace("\r", "\n"))
    r = receive(raw=sample("mirth_test-hl7-input_ORM_blanklines.hl7"), transport="mllp", peer="t")
    print(r.ack.replace("\r", "\n"))
