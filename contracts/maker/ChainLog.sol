// SPDX-License-Identifier: AGPL-3.0-or-later
// Stand-in for makerdao/dss-chain-log (ChainLog, mainnet 0xdA0Ab1e0017DEbCd72Be8599041a2aa3bA7e740F).
// Same ABI (getAddress 0x21f8a721, list, count, get, keys, version, sha256sum, ipfs, wards),
// events and revert strings; getAddress reverts with "dss-chain-log/invalid-key" for a key that
// is unknown (or was removed). Like the original, the constructor registers itself under
// "CHANGELOG" and sets version "0.0.0".
// Difference: none intended beyond the 0.8 rewrite.
pragma solidity ^0.8.24;

contract ChainLog {
    struct Location {
        uint256 pos; // index in keys
        address addr;
    }

    mapping(address => uint256) public wards;
    mapping(bytes32 => Location) internal location;
    bytes32[] public keys;

    string public version;
    string public sha256sum;
    string public ipfs;

    event Rely(address usr);
    event Deny(address usr);
    event UpdateVersion(string version);
    event UpdateSha256sum(string sha256sum);
    event UpdateIPFS(string ipfs);
    event UpdateAddress(bytes32 key, address addr);
    event RemoveAddress(bytes32 key);

    modifier auth() {
        require(wards[msg.sender] == 1, "ChainLog/not-authorized");
        _;
    }

    constructor() {
        wards[msg.sender] = 1;
        emit Rely(msg.sender);
        setVersion("0.0.0");
        setAddress("CHANGELOG", address(this));
    }

    function rely(address usr) external auth {
        wards[usr] = 1;
        emit Rely(usr);
    }

    function deny(address usr) external auth {
        wards[usr] = 0;
        emit Deny(usr);
    }

    function setVersion(string memory version_) public auth {
        version = version_;
        emit UpdateVersion(version_);
    }

    function setSha256sum(string memory sha256sum_) public auth {
        sha256sum = sha256sum_;
        emit UpdateSha256sum(sha256sum_);
    }

    function setIPFS(string memory ipfs_) public auth {
        ipfs = ipfs_;
        emit UpdateIPFS(ipfs_);
    }

    function setAddress(bytes32 key, address addr) public auth {
        if (_known(key)) {
            location[key].addr = addr;
        } else {
            location[key] = Location(keys.length, addr);
            keys.push(key);
        }
        emit UpdateAddress(key, addr);
    }

    // Swap-and-pop: the last key takes the removed key's slot, so list() order can change.
    function removeAddress(bytes32 key) public auth {
        require(_known(key), "dss-chain-log/invalid-key");
        uint256 pos = location[key].pos;
        bytes32 moved = keys[keys.length - 1];
        keys[pos] = moved;
        location[moved].pos = pos;
        keys.pop();
        delete location[key];
        emit RemoveAddress(key);
    }

    function count() public view returns (uint256) {
        return keys.length;
    }

    function get(uint256 index) public view returns (bytes32, address) {
        bytes32 key = keys[index];
        return (key, location[key].addr);
    }

    function list() public view returns (bytes32[] memory) {
        return keys;
    }

    function getAddress(bytes32 key) public view returns (address addr) {
        addr = location[key].addr;
        require(addr != address(0), "dss-chain-log/invalid-key");
    }

    function _known(bytes32 key) internal view returns (bool) {
        return keys.length > 0 && keys[location[key].pos] == key;
    }
}
