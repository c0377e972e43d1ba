// SPDX-License-Identifier: AGPL-3.0-or-later
// Stand-in for dapphub/ds-token as deployed for MKR (mainnet 0x9f8F72aA9304c8B593d555F12eF6589cC3A579A2)
// and for the chief's IOU token.
// Same ABI as DSTokenAbstract: bytes32 name/symbol, uint256 decimals, approve(address) for an
// unlimited allowance, push/pull/move, an allowance of 2^256-1 is never decreased, same revert
// strings, Mint/Burn/Stop/Start events.
// Deliberate difference (the MkrAuthority rule folded in): on mainnet MKR's burn functions are
// `auth` and MKR's authority (MkrAuthority) lets anyone call them. Here `burn(uint)` (burn your own
// balance) is open to everyone, and `burn(address,uint)` is open when guy == msg.sender and `auth`
// otherwise; burning someone else's tokens still needs their allowance unless it is unlimited.
// This is what ESM.burn() (self-burn) and DSChief.free() (the chief, IOU owner, burns the voter's
// IOU under the voter's allowance) rely on. Minting stays `auth` (owner or authority).
pragma solidity ^0.8.24;

import "./DSAuth.sol";

contract DSToken is DSAuth {
    bool public stopped;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    bytes32 public symbol;
    uint256 public decimals = 18;
    bytes32 public name = "";

    event Approval(address indexed src, address indexed guy, uint256 wad);
    event Transfer(address indexed src, address indexed dst, uint256 wad);
    event Mint(address indexed guy, uint256 wad);
    event Burn(address indexed guy, uint256 wad);
    event Stop();
    event Start();

    constructor(bytes32 symbol_) {
        symbol = symbol_;
    }

    modifier stoppable() {
        require(!stopped, "ds-stop-is-stopped");
        _;
    }

    // --- ERC20-ish ---

    function approve(address guy) external returns (bool) {
        return approve(guy, type(uint256).max);
    }

    function approve(address guy, uint256 wad) public stoppable returns (bool) {
        allowance[msg.sender][guy] = wad;
        emit Approval(msg.sender, guy, wad);
        return true;
    }

    function transfer(address dst, uint256 wad) external returns (bool) {
        return transferFrom(msg.sender, dst, wad);
    }

    function transferFrom(address src, address dst, uint256 wad) public stoppable returns (bool) {
        _spendAllowance(src, wad);
        require(balanceOf[src] >= wad, "ds-token-insufficient-balance");
        balanceOf[src] -= wad;
        balanceOf[dst] += wad;
        emit Transfer(src, dst, wad);
        return true;
    }

    function push(address dst, uint256 wad) external {
        transferFrom(msg.sender, dst, wad);
    }

    function pull(address src, uint256 wad) external {
        transferFrom(src, msg.sender, wad);
    }

    function move(address src, address dst, uint256 wad) external {
        transferFrom(src, dst, wad);
    }

    // --- supply ---

    function mint(uint256 wad) external auth {
        _mint(msg.sender, wad);
    }

    function mint(address guy, uint256 wad) external auth {
        _mint(guy, wad);
    }

    // Anyone may burn their own balance (MkrAuthority rule, see header).
    function burn(uint256 wad) external {
        _burn(msg.sender, wad);
    }

    function burn(address guy, uint256 wad) external {
        if (guy != msg.sender) {
            require(isAuthorized(msg.sender, msg.sig), "ds-auth-unauthorized");
        }
        _burn(guy, wad);
    }

    // --- admin ---

    function stop() external auth {
        stopped = true;
        emit Stop();
    }

    function start() external auth {
        stopped = false;
        emit Start();
    }

    function setName(bytes32 name_) external auth {
        name = name_;
    }

    // --- internals ---

    // A third party moving or burning `src`'s tokens uses up its allowance, unless the allowance
    // is the unlimited 2^256-1.
    function _spendAllowance(address src, uint256 wad) internal {
        if (src == msg.sender) return;
        uint256 allowed = allowance[src][msg.sender];
        if (allowed == type(uint256).max) return;
        require(allowed >= wad, "ds-token-insufficient-approval");
        allowance[src][msg.sender] = allowed - wad;
    }

    function _mint(address guy, uint256 wad) internal stoppable {
        balanceOf[guy] += wad;
        totalSupply += wad;
        emit Mint(guy, wad);
    }

    function _burn(address guy, uint256 wad) internal stoppable {
        _spendAllowance(guy, wad);
        require(balanceOf[guy] >= wad, "ds-token-insufficient-balance");
        balanceOf[guy] -= wad;
        totalSupply -= wad;
        emit Burn(guy, wad);
    }
}
