namespace PapaActors.Actors.Configuration;

/// <summary>A configuration key that is unknown, missing or has a bad value; the message names the key.</summary>
public sealed class ConfigException(string message, Exception? inner = null) : Exception(message, inner);
