// SPDX-License-Identifier: AGPL-3.0-or-later
// Stand-in for makerdao/sky's Sky (chainlog MCD_GOV since May 2025): an ordinary ERC-20, unlike
// MKR's ds-token. Same as mainnet where the client looks: `symbol()` and `name()` return string,
// `decimals()` uint8 18, `approve(address,uint256)` only (no `approve(address)`), an allowance of
// 2^256-1 is never decreased, EIP-2612 `permit`, wards for minting.
// Differences: not upgradeable (mainnet's is behind a proxy); no ERC-1271 contract signatures
// in `permit` (only EOA signatures).
pragma solidity ^0.8.24;

contract Sky {
    string public constant name = "SKY Governance Token";
    string public constant symbol = "SKY";
    string public constant version = "1";
    uint8 public constant decimals = 18;
    bytes32 public constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    mapping(address => uint256) public wards;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    mapping(address => uint256) public nonces;

    event Rely(address indexed usr);
    event Deny(address indexed usr);
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor() {
        wards[msg.sender] = 1;
        emit Rely(msg.sender);
    }

    modifier auth() {
        require(wards[msg.sender] == 1, "Sky/not-authorized");
        _;
    }

    function rely(address usr) external auth {
        wards[usr] = 1;
        emit Rely(usr);
    }

    function deny(address usr) external auth {
        wards[usr] = 0;
        emit Deny(usr);
    }

    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256(bytes(name)),
                keccak256(bytes(version)),
                block.chainid,
                address(this)
            )
        );
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        _spend(from, value);
        _move(from, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function mint(address to, uint256 value) external auth {
        require(to != address(0) && to != address(this), "Sky/invalid-address");
        balanceOf[to] += value;
        totalSupply += value;
        emit Transfer(address(0), to, value);
    }

    function burn(address from, uint256 value) external {
        uint256 balance = balanceOf[from];
        require(balance >= value, "Sky/insufficient-balance");
        if (from != msg.sender) _spend(from, value);
        balanceOf[from] = balance - value;
        totalSupply -= value;
        emit Transfer(from, address(0), value);
    }

    function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
    {
        require(block.timestamp <= deadline, "Sky/permit-expired");
        require(owner != address(0), "Sky/invalid-owner");
        bytes32 digest = keccak256(
            abi.encodePacked(
                "\x19\x01",
                DOMAIN_SEPARATOR(),
                keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, nonces[owner]++, deadline))
            )
        );
        require(ecrecover(digest, v, r, s) == owner, "Sky/invalid-permit");
        allowance[owner][spender] = value;
        emit Approval(owner, spender, value);
    }

    function _spend(address from, uint256 value) internal {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= value, "Sky/insufficient-allowance");
            allowance[from][msg.sender] = allowed - value;
        }
    }

    function _move(address from, address to, uint256 value) internal {
        require(to != address(0) && to != address(this), "Sky/invalid-address");
        uint256 balance = balanceOf[from];
        require(balance >= value, "Sky/insufficient-balance");
        balanceOf[from] = balance - value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
